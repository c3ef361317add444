"""beam_prep: raw multi-turn conversations -> token-exact fine-tuning data for chat LLMs, on Apache Beam."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent

setup(
    name="beam-prep",
    version="0.1.0",
    description="Turn raw conversation logs into token-exact fine-tuning data for chat LLMs with Apache Beam",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=[
        "beam_prep",
        "beam_prep.core",
        "beam_prep.io",
        "beam_prep.pipeline",
        "beam_prep._templates",
    ],
    # templates/ lives at the top of the repository and ships inside the package.
    package_dir={"beam_prep._templates": "templates"},
    package_data={
        "beam_prep": ["resources/tokenizer/*/*", "resources/sample/*"],
        "beam_prep._templates": ["*.jinja", "*.yaml", "*.md"],
    },
    install_requires=[
        "apache-beam>=2.60",
        # Without it, Beam's GCP modules (imported since gcsfs brings google-cloud) log a warning through
        # the root logger at import, which turns on INFO logging to stderr in every local worker.
        "google-apitools",
        "numpy",
        "orjson>=3.9",  # JSONL shards: token lists straight from int buffers
        "pyarrow>=14",
        "transformers>=4.40",
        "tokenizers>=0.19",
        "datasets>=2.19",
        # Old s3fs (0.4) predates aiobotocore: pip backtracks to it when boto3 is newer than what
        # aiobotocore allows, and it cannot talk to S3 as we do. Keep the async generation.
        "fsspec>=2024.6.0",
        "s3fs>=2024.6.0",
        "gcsfs>=2024.6.0",
        "jinja2>=3.1",
        "pyyaml",
        "matplotlib",
    ],
    extras_require={
        # The DataflowRunner's client libraries (google-auth-httplib2, the Dataflow API...): without
        # them Beam connects anonymously. Flink and Spark need no Python extra (a Java job server).
        "gcp": ["apache-beam[gcp]"],
        "test": [
            "pytest>=7",
            "hypothesis",
            # 5.2.6 checks ListObjects(V2) against an IAM action "s3:ListObjects" that AWS does not
            # have (AWS: s3:ListBucket), so the read-only user of tests/cloud cannot list; 5.1 fails
            # botocore's current signatures. Lift the cap when a release maps it back.
            "moto[server]>=5.2,<5.2.6",
            "gcp-storage-emulator",
            "mistral-common",
            "sentencepiece",
            "ruff",
        ],
        # The real training clients, for tests/clients (TRL, transformers' Trainer) and for users who
        # train on the output. .ci/run pins torch to the CPU build this machine holds.
        "train": [
            "torch>=2.4",
            "trl>=1.16,<2",
            "accelerate>=1.0",
        ],
    },
    entry_points={"console_scripts": ["beam-prep=beam_prep.cli:main"]},
)
