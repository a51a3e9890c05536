"""State on disk: the task store (SQLite by default, behind the TaskStore interface) and stored frames.

The database schema moves forward by numbered migrations recorded in `PRAGMA user_version`, applied
at start-up in one transaction each, so a column added later reaches databases made earlier.

The package: `interfaces` (what the console asks of a store), `migrations` (the schema), `sqlite`
and `side_tables` (the embedded store), `rows` (rows to records), `frames` (frame files).
"""

from app.storage.frames import FrameStore
from app.storage.interfaces import (
    BOOLEAN_COLUMNS,
    EVERY_TASK,
    FRAME_REF_PATTERN,
    LIKE_ESCAPE,
    MIME_BY_EXTENSION,
    ApiStore,
    CostLine,
    CostTotals,
    Share,
    ShareKind,
    ShareStore,
    StoredToken,
    StoredUpload,
    TaskFilter,
    TaskStore,
    Visibility,
    visible_to,
)
from app.storage.migrations import (
    DATABASE_NAME,
    DEFAULT_BUSY_TIMEOUT,
    MIGRATIONS,
    SchemaTooNew,
    database_path,
    migrate,
    open_database,
)
from app.storage.sqlite import SqliteTaskStore

__all__ = [
    "ApiStore",
    "BOOLEAN_COLUMNS",
    "CostLine",
    "CostTotals",
    "DATABASE_NAME",
    "DEFAULT_BUSY_TIMEOUT",
    "EVERY_TASK",
    "FRAME_REF_PATTERN",
    "FrameStore",
    "LIKE_ESCAPE",
    "MIGRATIONS",
    "MIME_BY_EXTENSION",
    "SchemaTooNew",
    "Share",
    "ShareKind",
    "ShareStore",
    "SqliteTaskStore",
    "StoredToken",
    "StoredUpload",
    "TaskFilter",
    "TaskStore",
    "Visibility",
    "database_path",
    "migrate",
    "open_database",
    "visible_to",
]
