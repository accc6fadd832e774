"""Source registry and canonical-variable dictionary: configuration, not code.

``source_registry.json`` says which forecast stores exist and how to open them; nothing the
pipeline can read from a store itself (dims, members, leads, grid) is repeated here.

``canonical_variables.json`` says which user-facing variables exist and how each is made from
each source's raw variables, using a small declarative vocabulary of derivation nodes (never an
evaluated string). Adding a source or a variable that needs no new kind of node is an edit of
these files only.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from forecast_core.base import ContractModel, Identifier
from forecast_core.units import UnitId

StoreVariable = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,128}$")]
STAC_CATALOG_URL = "https://stac.dynamical.org/catalog.json"
CONSENSUS_ID: Final = "consensus"
"""The pooled ensemble of every enabled source (``forecast_core.consensus``); no source may use this id."""


# --- how to open a source ---------------------------------------------------------------------


class IcechunkLocation(ContractModel):
    """An Icechunk repository: ``s3://bucket/prefix``, ``https://…`` or a local folder path."""

    kind: Literal["icechunk"] = "icechunk"
    url: Annotated[str, Field(min_length=1)]
    branch: str = "main"
    snapshot_id: str | None = None
    region: str | None = None
    anonymous: bool = True
    endpoint_url: str | None = None


class ZarrLocation(ContractModel):
    """A plain Zarr v3 store URL (local path, ``s3://`` or ``https://``)."""

    kind: Literal["zarr"] = "zarr"
    url: Annotated[str, Field(min_length=1)]
    anonymous: bool = True
    region: str | None = None
    endpoint_url: str | None = None


class StacLocation(ContractModel):
    """A dynamical.org dataset id resolved through its STAC catalog at run time.

    The collection's ``icechunk`` (S3) or ``icechunk-https`` asset gives the repository; the
    asset href and dataset version are never hard-coded because dynamical.org moves them.
    """

    kind: Literal["stac"] = "stac"
    dataset_id: Identifier
    catalog_url: str = STAC_CATALOG_URL
    asset_keys: list[str] = ["icechunk", "icechunk-https"]


SourceLocation = Annotated[IcechunkLocation | ZarrLocation | StacLocation, Field(discriminator="kind")]


class SourceEntry(ContractModel):
    """One forecast source."""

    source_id: Identifier
    display_name: Annotated[str, Field(min_length=1, max_length=80)]
    dataset_id: Identifier
    location: SourceLocation
    enabled: bool = True
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#1f77b4"
    consensus_weight: Annotated[NonNegativeFloat, Field(le=1000.0)] = 1.0
    """This source's share of the consensus, relative to the other sources' (its members share it
    equally); 0 leaves the source out of the consensus."""


class ExtractionLimits(ContractModel):
    """Bounds per run; exceeding one fails the run loudly instead of truncating."""

    max_points: PositiveInt = 2000
    max_variables: PositiveInt = 16
    max_sources: PositiveInt = 8


class MapSummarySettings(ContractModel):
    """What ``map_summary.parquet`` holds: aggregates per grid cell around the points."""

    lead_hours: list[Annotated[float, Field(ge=0)]] = [24.0, 48.0, 72.0, 120.0, 168.0, 240.0]
    margin_degrees: PositiveFloat = 1.0
    max_cells: PositiveInt = 20000


class SourceRegistry(ContractModel):
    """``dashboard/config/source_registry.json``."""

    schema_version: Literal[1] = 1
    sources: list[SourceEntry]
    extraction_limits: ExtractionLimits = ExtractionLimits()
    map_summary: MapSummarySettings = MapSummarySettings()

    @model_validator(mode="after")
    def _unique_ids(self) -> SourceRegistry:
        ids = [source.source_id for source in self.sources]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate source ids in registry: {sorted(ids)}")
        if CONSENSUS_ID in ids:
            raise ValueError(f"{CONSENSUS_ID!r} names the pooled ensemble of all sources; choose another source id")
        return self

    def get(self, source_id: str) -> SourceEntry:
        """The entry for ``source_id``; KeyError names the known ids."""
        for source in self.sources:
            if source.source_id == source_id:
                return source
        raise KeyError(f"unknown source {source_id!r}; registry has {[s.source_id for s in self.sources]}")

    def enabled_sources(self) -> list[SourceEntry]:
        return [source for source in self.sources if source.enabled]

    def consensus_weights(self) -> dict[str, float]:
        """Enabled sources' consensus weights by id (sources of weight 0 included, as 0)."""
        return {source.source_id: source.consensus_weight for source in self.enabled_sources()}


# --- derivations: a safe expression vocabulary --------------------------------------------------


class FieldNode(ContractModel):
    """A raw store variable, optionally guarded by the units attribute it must carry."""

    op: Literal["field"] = "field"
    variable: StoreVariable
    units: str | None = None


class StepAmountNode(ContractModel):
    """Rate (per second) × length of the step ending at each lead, in seconds.

    Lead 0 has no step and stays NaN; steps are read from the store's lead_time coordinate.
    """

    op: Literal["step_amount"] = "step_amount"
    of: Node


class HypotNode(ContractModel):
    """sqrt(x² + y²), e.g. wind speed from u and v."""

    op: Literal["hypot"] = "hypot"
    x: Node
    y: Node


class MultiplyNode(ContractModel):
    """Elementwise product of two or more nodes (NaN propagates)."""

    op: Literal["multiply"] = "multiply"
    factors: Annotated[list[Node], Field(min_length=2)]


class LinearNode(ContractModel):
    """``of × scale + offset`` (unit conversion, percent → fraction)."""

    op: Literal["linear"] = "linear"
    of: Node
    scale: float = 1.0
    offset: float = 0.0


class ClipNode(ContractModel):
    """Clamp into [minimum, maximum]; NaN stays NaN."""

    op: Literal["clip"] = "clip"
    of: Node
    minimum: float | None = None
    maximum: float | None = None


class InCodesNode(ContractModel):
    """1.0 where the value is one of ``codes``, 0.0 where it is another code, NaN where NaN."""

    op: Literal["in_codes"] = "in_codes"
    of: Node
    codes: Annotated[list[int], Field(min_length=1)]


class ReplaceBelowNode(ContractModel):
    """Values below ``threshold`` become ``value`` (e.g. GEFS percent-frozen sentinels < −0.1 → 0)."""

    op: Literal["replace_below"] = "replace_below"
    of: Node
    threshold: float
    value: float


Node = Annotated[
    FieldNode | StepAmountNode | HypotNode | MultiplyNode | LinearNode | ClipNode | InCodesNode | ReplaceBelowNode,
    Field(discriminator="op"),
]

for _model in (StepAmountNode, HypotNode, MultiplyNode, LinearNode, ClipNode, InCodesNode, ReplaceBelowNode):
    _model.model_rebuild()


def node_children(node: Node) -> list[Node]:
    """The nodes a derivation node evaluates first (none for a field): the one walk of the
    vocabulary's tree, for every consumer (field lists here, unit checks in the extraction)."""
    if isinstance(node, FieldNode):
        return []
    if isinstance(node, HypotNode):
        return [node.x, node.y]
    if isinstance(node, MultiplyNode):
        return list(node.factors)
    return [node.of]


def node_fields(node: Node) -> list[str]:
    """Raw store variables a derivation reads, in first-use order."""
    if isinstance(node, FieldNode):
        return [node.variable]
    seen: list[str] = []
    for child in node_children(node):
        for name in node_fields(child):
            if name not in seen:
                seen.append(name)
    return seen


class RunningTotal(ContractModel):
    """A per-member cumulative sum since init, published as its own variable id."""

    variable_id: Identifier
    display_name: Annotated[str, Field(min_length=1, max_length=80)]


class CanonicalVariable(ContractModel):
    """One user-facing variable, its units and its derivation per source."""

    variable_id: Identifier
    display_name: Annotated[str, Field(min_length=1, max_length=80)]
    description: str = ""
    native_units: UnitId
    display_units: Annotated[list[UnitId], Field(min_length=1)]
    kind: Literal["instant", "per_step"]
    running_total: RunningTotal | None = None
    exceedance_thresholds: list[float] = []
    derivations: dict[Identifier, Node]

    def is_running_total(self, variable_id: str | None) -> bool:
        """Whether ``variable_id`` names this variable's running total (not the variable itself)."""
        return self.running_total is not None and self.running_total.variable_id == variable_id

    def display_name_of(self, variable_id: str | None) -> str:
        """The display name of this variable, or of its running total when ``variable_id`` names it."""
        if self.running_total is not None and self.is_running_total(variable_id):
            return self.running_total.display_name
        return self.display_name

    @model_validator(mode="after")
    def _units_consistent(self) -> CanonicalVariable:
        from forecast_core.units import convertible

        for unit in self.display_units:
            if not convertible(self.native_units, unit):
                raise ValueError(f"{self.variable_id}: cannot display {self.native_units} as {unit}")
        if self.running_total is not None and self.kind != "per_step":
            raise ValueError(f"{self.variable_id}: only per-step variables have running totals")
        return self


class CanonicalVariables(ContractModel):
    """``dashboard/config/canonical_variables.json``."""

    schema_version: Literal[1] = 1
    variables: list[CanonicalVariable]

    @model_validator(mode="after")
    def _unique_ids(self) -> CanonicalVariables:
        ids = self.output_variable_ids()
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate variable ids (including running totals): {ids}")
        return self

    def get(self, variable_id: str) -> CanonicalVariable:
        """The variable with ``variable_id`` (or whose running total has that id)."""
        for variable in self.variables:
            if variable.variable_id == variable_id or (
                variable.running_total is not None and variable.running_total.variable_id == variable_id
            ):
                return variable
        raise KeyError(f"unknown variable {variable_id!r}; known: {self.output_variable_ids()}")

    def output_variable_ids(self) -> list[str]:
        """Every variable id an extraction publishes: each variable and its running total."""
        ids: list[str] = []
        for variable in self.variables:
            ids.append(variable.variable_id)
            if variable.running_total is not None:
                ids.append(variable.running_total.variable_id)
        return ids
