"""Base model for every contract: frozen, strict, no unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from forecast_core.layout import IDENTIFIER_PATTERN, RUN_ID_PATTERN

MAX_CONFIG_BYTES = 16 * 2**20
"""The largest config document (registry, variables, points) read: 10,000 points take ~4 MB."""


class ContractModel(BaseModel):
    """Frozen, strict pydantic model; unknown fields are rejected.

    Strict mode means Python values are not coerced (no ``"1"`` for an int); JSON input is parsed
    with JSON's own types (ISO strings become datetimes). ``replace`` re-validates an update,
    unlike ``model_copy(update=...)``.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", validate_default=True)

    def replace(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` applied."""
        data = self.model_dump(mode="python")
        data.update(changes)
        return type(self).model_validate(data)

    def to_json_bytes(self) -> bytes:
        """Canonical JSON encoding (indented, UTF-8) used for every stored contract file."""
        return self.model_dump_json(indent=2).encode("utf-8") + b"\n"


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A timezone-aware datetime, normalised to UTC."""

Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
"""A source, variable or point id (``forecast_core.layout.IDENTIFIER_PATTERN``)."""

RunId = Annotated[str, Field(pattern=RUN_ID_PATTERN)]
"""A run id (``forecast_core.layout.RUN_ID_PATTERN``)."""

MESSAGE_MAX_LENGTH = 2000


def _shorten(value: object) -> object:
    if isinstance(value, str) and len(value) > MESSAGE_MAX_LENGTH:
        return value[: MESSAGE_MAX_LENGTH - 1] + "…"
    return value


Message = Annotated[str, BeforeValidator(_shorten), Field(max_length=MESSAGE_MAX_LENGTH)]
"""A human-readable message in a contract (an error, a run's outcome): longer text is cut to
``MESSAGE_MAX_LENGTH`` characters (ending in "…") where it is stored, not by every writer."""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def validation_summary(error: ValidationError, limit: int = 8) -> str:
    """What is wrong, one ``field.path: message`` per problem (at most ``limit``), without the
    offending values (they may be huge or hostile)."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    lines = [f"{'.'.join(str(part) for part in problem['loc']) or '(document)'}: {problem['msg']}"
             for problem in problems[:limit]]  # fmt: skip
    if len(problems) > limit:
        lines.append(f"and {len(problems) - limit} more problems")
    return "; ".join(lines)
