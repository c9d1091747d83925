"""The pure modules (schema, patch, ssa) written alongside this server, imported in one place."""
from .schema import SchemaRegistry  # noqa: F401
from .patch import PatchError, json_patch, merge_patch, strategic_merge_patch  # noqa: F401
from .ssa import ApplyConflict, apply, duplicate_key, record_update  # noqa: F401
