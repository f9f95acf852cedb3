"""Where graphrec keeps things and which graph store it talks to, read once from the environment."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Database name used on the local store (and on Neo4j when NEO4J_DATABASE is unset: ``neo4j``).
LOCAL_DATABASE = "graphrec"


@dataclass(frozen=True)
class Settings:
    """Everything graphrec reads from the environment.

    ``neo4j_uri`` unset means: use the local store that graphrec starts itself under ``home``.
    ``neo4j_reader_user`` / ``neo4j_reader_password``: the Neo4j user the web service reads as,
    one that may only read (the local store makes its own reader user).
    """

    home: Path
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = None
    neo4j_reader_user: str | None = None
    neo4j_reader_password: str | None = None
    neo4j_database: str | None = None
    store_dir_override: Path | None = None
    store_heap: str = "2g"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            home=Path(env.get("GRAPHREC_HOME") or ".graphrec").absolute(),
            neo4j_uri=env.get("NEO4J_URI") or None,
            neo4j_user=env.get("NEO4J_USER") or "neo4j",
            neo4j_password=env.get("NEO4J_PASSWORD") or None,
            neo4j_reader_user=env.get("NEO4J_READER_USER") or None,
            neo4j_reader_password=env.get("NEO4J_READER_PASSWORD") or None,
            neo4j_database=env.get("NEO4J_DATABASE") or None,
            store_dir_override=Path(env["GRAPHREC_STORE_DIR"]).absolute()
            if env.get("GRAPHREC_STORE_DIR") else None,
            store_heap=env.get("GRAPHREC_STORE_HEAP") or "2g",
        )

    @property
    def uses_local_store(self) -> bool:
        return self.neo4j_uri is None

    @property
    def database(self) -> str:
        """The database every query names (drivers must never rely on a server default)."""
        if self.neo4j_database:
            return self.neo4j_database
        return LOCAL_DATABASE if self.uses_local_store else "neo4j"

    @property
    def store_dir(self) -> Path:
        """The local store's files (GRAPHREC_STORE_DIR, default ``$GRAPHREC_HOME/store``)."""
        return self.store_dir_override or self.home / "store"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def model_path(self) -> Path:
        """The model that the commands and the service use (``graphrec train`` replaces it)."""
        return self.models_dir / "current"

    @property
    def rejects_dir(self) -> Path:
        return self.home / "rejects"
