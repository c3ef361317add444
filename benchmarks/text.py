"""Synthetic but tokenizer-realistic text for the benchmark corpus: prose in several scripts, code.

Pools of sentences and code blocks are built once (fixed seed) from small word lists and syllables,
so a turn is a cheap concatenation of pool entries. Nothing here can produce a special-token string
of the bundled tokenizer (`<s>`, `</s>`, `<unk>`): the code templates contain no such tags.
"""

from __future__ import annotations

import functools
import random


def _split(words: str) -> list[str]:
    return words.split()


EN = _split(
    "the of and to a in is it you that he was for on are with as I his they be at one have this from or had by "
    "not word but what some we can out other were all there when up use your how said an each she which do "
    "their time if will way about many then them write would like so these her long make thing see him two has "
    "look more day could go come did number sound no most people my over know water than call first who may "
    "down side been now find any new work part take get place made live where after back little only round man "
    "year came show every good me give our under name very through just form sentence great think say help low "
    "line differ turn cause much mean before move right boy old too same tell does set three want air well also "
    "play small end put home read hand port large spell add even land here must big high such follow act why "
    "ask men change went light kind off need house picture try us again animal point mother world near build "
    "self earth father model data memory token budget training server function error value request response"
)
LATIN = {
    "de": "und der die das ist nicht ein eine zu mit auf für von sich dem den auch es an werden aus er hat dass sie "
    "nach wird bei einer um noch wie über so zum kann nur sein ich war oder aber vor durch man bis Größe Straße",
    "es": "de la que el en y a los se del las un por con no una su para es al lo como más pero sus le ya o este sí "
    "porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos durante año niño",
    "fr": "de la le et les des en un du une que est pour qui dans par plus pas au sur ne se ce il sont avec ou son "
    "mais comme on tout nous sa aussi leur bien peut ces y deux même où été très être déjà après français",
}
CYRILLIC = _split(
    "и в не на я быть он с что а по это она этот к но они мы как из у который то за свой что весь год от так о "
    "для ты же все тот мочь вы человек такой его сказать только или ещё бы себя один как уже до время если сам "
    "когда другой вот говорить наш мой знать стать при чтобы дело жизнь кто первый очень два день её новый рука"
)
HANZI = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天"
    "而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三己老从动两长知民样现分将外但身些"
    "与高意进把法此实回二理美点月明其种声全工话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相"
)
KANA = (
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
    "がぎぐげござじずぜぞだでどばびぶべぼ"
)
HANGUL = (
    "가나다라마바사아자차카타파하고노도로모보소오조초코토포호"
    "구누두루무부수우주추쿠투푸후기니디리미비시이지치키티피히한국어"
)
ARABIC = _split("في من على إلى أن هذا التي الذي مع كان عن ما هو هي بين كل قد لا ذلك بعد عند كانت حتى أو لم ثم هذه")
DEVANAGARI = _split("के है में की और से को एक यह पर भी नहीं कि था हैं कर लिए जो गया तो ने इस हो वह कुछ अपने साथ")
SYLLABLES = _split("ka lo mi ter ing tion pre con al ex er an de re ul os im pro vi sa ne ta ri mo fu ble ment ous ive")
LANGUAGES = ("de", "es", "fr", "ru", "zh", "ja", "ko", "ar", "hi")
CODE_LANGS = ("python", "javascript", "sql", "bash", "text")
EMOJI = ("🙂", "😀", "🚀", "✅", "❤️", "👍", "🤔", "🔥")


def _words(rng: random.Random, lang: str) -> list[str]:
    """A vocabulary: common words first (sampled more often), then made-up words from syllables."""
    if lang in LATIN:
        base = LATIN[lang].split()
    elif lang == "ru":
        base = CYRILLIC
    elif lang == "ar":
        base = ARABIC
    elif lang == "hi":
        base = DEVANAGARI
    else:
        base = EN
    made = ["".join(rng.choices(SYLLABLES, k=rng.randint(2, 3))) for _ in range(1000)]
    return base + made


def _zipf(words: list[str]) -> list[float]:
    total, cum = 0.0, []
    for rank in range(len(words)):
        total += (rank + 2) ** -1.2
        cum.append(total)
    return cum


def _cjk_sentence(rng: random.Random, alphabet: str, spaced: bool) -> tuple[str, int]:
    n = rng.randint(6, 40)
    chars = rng.choices(alphabet, k=n)
    if spaced:  # Korean: words of 2-4 syllables separated by spaces
        out, i = [], 0
        while i < n:
            k = rng.randint(2, 4)
            out.append("".join(chars[i : i + k]))
            i += k
        return " ".join(out) + ".", len(out)
    end = "。" if alphabet is HANZI or rng.random() < 0.5 else "、"
    return "".join(chars) + end, max(1, n // 2)


def _sentence(rng: random.Random, words: list[str], cum: list[float]) -> tuple[str, int]:
    n = max(2, int(rng.lognormvariate(2.5, 0.5)))
    ws = rng.choices(words, cum_weights=cum, k=n)
    if rng.random() < 0.15:
        ws.insert(rng.randrange(n), str(rng.randint(0, 5000)))
    if rng.random() < 0.01:
        ws.append(rng.choice(EMOJI))
    ws[0] = ws[0][:1].upper() + ws[0][1:]
    return " ".join(ws) + rng.choice(".....?!:"), len(ws)


def _ident(rng: random.Random) -> str:
    parts = rng.sample(EN[-40:] + EN[:60], rng.randint(1, 3))
    return "_".join(p.lower() for p in parts)


def _code_block(rng: random.Random) -> tuple[str, int]:
    lang = rng.choice(CODE_LANGS)
    lines: list[str] = []
    for _ in range(rng.randint(3, 30)):
        a, b, c = _ident(rng), _ident(rng), rng.randint(0, 999)
        if lang == "python":
            lines += rng.choice(
                [
                    [f"def {a}({b}, n={c}):", f"    return [{b}[i] * {c} for i in range(n) if i % 2]"],
                    [f"for {a} in {b}:", f"    if {a} is None:", "        continue", f"    total += {a}.get('{b}', 0)"],
                    [f"{a} = {{'{b}': {c}, 'ok': True}}  # {b.replace('_', ' ')}"],
                    ["try:", f"    {a}({b})", "except KeyError as exc:", f"    log.warning('{a}: %s', exc)"],
                ]
            )
        elif lang == "javascript":
            lines += rng.choice(
                [
                    [f"const {a} = async ({b}) => {{", f"  const r = await fetch(`/api/{b}?n=${{{c}}}`);", "};"],
                    [f"if ({a}.length > {c}) {{ return {b}.map((x) => x * 2); }}"],
                    [f"export function {a}({b}) {{", f"  return {{ ...{b}, id: {c} }};", "}"],
                ]
            )
        elif lang == "sql":
            lines.append(f"SELECT {a}, COUNT(*) FROM {b} WHERE id > {c} GROUP BY {a} ORDER BY 2 DESC;")
        elif lang == "bash":
            lines.append(f"$ pip install {a.replace('_', '-')}=={c % 10}.{c % 7}.0 && python -m {b} --n {c}")
        else:
            lines.append(f'  File "/srv/app/{a}.py", line {c}, in {b}')
            lines.append(f"KeyError: '{a}'" if rng.random() < 0.3 else f"    {b}({a}={c})")
    body = "\n".join(lines)
    return f"```{lang}\n{body}\n```", sum(len(line.split()) for line in lines)


@functools.cache
def pools() -> dict[str, list[tuple[str, int]]]:
    """Per language: (sentence, word count) entries; 'code': fenced code blocks. The same for every
    corpus seed (the seed draws the dialogues from them), built once per process."""
    rng = random.Random("beam_prep-benchmark-pools:0")
    out: dict[str, list[tuple[str, int]]] = {}
    for lang in ("en", *LANGUAGES):
        if lang in ("zh", "ja", "ko"):
            alphabet = {"zh": HANZI, "ja": KANA + HANZI[:80], "ko": HANGUL}[lang]
            out[lang] = [_cjk_sentence(rng, alphabet, lang == "ko") for _ in range(2000)]
        else:
            words = _words(rng, lang)
            cum = _zipf(words)
            out[lang] = [_sentence(rng, words, cum) for _ in range(12000 if lang == "en" else 2000)]
    out["code"] = [_code_block(rng) for _ in range(1500)]
    return out


def paragraphs(rng: random.Random, pool: list, words: int, code: list | None = None, code_share: float = 0.12) -> str:
    """About `words` words of text from `pool`: paragraphs of sentences, lists, and code blocks if given."""
    parts, paragraph, count = [], [], 0

    def flush():
        if paragraph:  # now and then a bullet list instead of a paragraph
            parts.append("\n".join("- " + s for s in paragraph) if rng.random() < 0.1 else " ".join(paragraph))
            paragraph.clear()

    while count < words:
        if code is not None and rng.random() < code_share:
            flush()
            block, n = code[rng.randrange(len(code))]
            parts.append(block)
            count += n
            continue
        sentence, n = pool[rng.randrange(len(pool))]
        if words < 4 and n > words:  # very short turns: a few words, not a whole sentence
            sentence, n = " ".join(sentence.split()[: max(1, words)]), words
        paragraph.append(sentence)
        count += n
        if rng.random() < 0.2:
            flush()
    flush()
    return "\n\n".join(parts)
