"""One shard being written under the temporary folder, in all three formats: rows are buffered and
go out a table at a time; a row the formats refuse is left out and returned as a reject."""

from __future__ import annotations

from beam_prep.core.failures import contain
from beam_prep.core.records import Reject
from beam_prep.io.fs import join
from beam_prep.io.naming import temp_paths
from beam_prep.io.results import NOWHERE, Position, ShardWritten
from beam_prep.io.shards import RowsRefused, ShardFiles, encode_rows, schema_for

ROWS_PER_TABLE = 1024  # rows buffered before they go to the files as one table
TOKENS_PER_TABLE = 1 << 20  # ... or tokens, whichever comes first: bounds a worker's buffer

Refused = list[tuple[Reject, dict]]  # the rows a shard left out, each with its reject


class ShardWriter:
    """A shard being written; `first` is the position of its first row, `number` its shard number
    when the shard count is fixed (io/results.ShardWritten)."""

    def __init__(
        self, tmp_root: str, split: str, first: Position = NOWHERE, number: int | None = None, packed: bool = False
    ):
        self.split, self.first, self.number, self.paths = split, first, number, temp_paths(split)
        urls = {fmt: join(tmp_root, rel) for fmt, rel in self.paths._asdict().items()}
        self.files = ShardFiles(urls, schema_for(packed))
        self.rows: list[dict] = []
        self.positions: list[Position] = []  # the buffered rows' positions, for their rejects
        self.tokens = 0
        self.refused: Refused = []  # the rows left out by close()'s flush

    def add(self, row: dict, position: Position = NOWHERE) -> bool:
        """Buffer a row; True when the buffer should be flushed."""
        self.rows.append(row)
        self.positions.append(position)
        self.tokens += row["num_tokens"]
        return len(self.rows) >= ROWS_PER_TABLE or self.tokens >= TOKENS_PER_TABLE

    def flush(self) -> Refused:
        """Write the buffered rows; a row that cannot be encoded is left out, and returned with its
        reject (core/failures.py): the other rows of its table are written."""
        rows, positions = self.rows, self.positions
        self.rows, self.positions, self.tokens = [], [], 0
        try:
            self.files.write(rows)
            return []
        except RowsRefused:
            pass
        good, refused = [], []
        for row, position in zip(rows, positions):
            dialogue_id = row.get("dialogue_id", "")
            dialogue_id = dialogue_id if isinstance(dialogue_id, str) else ",".join(dialogue_id)  # a packed row
            _, reject = contain(
                encode_rows,
                [row],
                self.files.schema,
                source=position.source,
                line=position.line,
                dialogue_id=dialogue_id,
            )
            if reject is None:
                good.append(row)
            else:
                refused.append((reject, row))
        self.files.write(good)
        return refused

    def close(self, empty_ok: bool = False) -> ShardWritten:
        """Finish the files; what Finalize needs to know of the shard."""
        self.refused += self.flush()
        self.files.close(empty_ok)
        return ShardWritten(self.split, self.first, self.number, self.files.rows, self.files.tokens, self.paths)

    def abort(self) -> None:
        """Close and remove the files (a failed bundle's)."""
        self.files.abort()


def write_shard(
    tmp_root: str,
    split: str,
    rows: list[dict],
    positions: list[Position] | None = None,
    number: int | None = None,
    packed: bool = False,
) -> tuple[ShardWritten, Refused]:
    """Write one whole shard (fixed sharding, or an empty split) in all three formats, its rows in
    the order given; the rows refused (with `positions`, the rows' own) are returned with it."""
    positions = positions or [NOWHERE] * len(rows)
    out = ShardWriter(tmp_root, split, positions[0] if positions else NOWHERE, number, packed)
    refused: Refused = []
    for i in range(0, len(rows), ROWS_PER_TABLE):
        out.rows, out.positions = rows[i : i + ROWS_PER_TABLE], positions[i : i + ROWS_PER_TABLE]
        refused += out.flush()
    written = out.close(empty_ok=True)
    return written, refused + out.refused
