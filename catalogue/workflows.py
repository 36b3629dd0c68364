"""The one table of secondary-analysis workflow names and their aliases.

Every part of the service (catalogue import, launch validation, resolution, relative paths)
turns a name into its canonical form here.
"""

from __future__ import annotations

from django.db import models


class Workflow(models.TextChoices):
    CTTSOV2 = "cttsov2", "cttsov2 (dragen-tso500-ctdna)"
    TUMOR_NORMAL = "tumor-normal", "tumor-normal (dragen-wgts-dna)"
    WTS = "wts", "wts (dragen-wgts-rna)"
    ONCOANALYSER_WGTS_DNA = "oncoanalyser-wgts-dna", "oncoanalyser-wgts-dna"
    ONCOANALYSER_WGTS_RNA = "oncoanalyser-wgts-rna", "oncoanalyser-wgts-rna"
    ONCOANALYSER_WGTS_DNA_RNA = "oncoanalyser-wgts-dna-rna", "oncoanalyser-wgts-dna-rna"
    RNASUM = "rnasum", "rnasum"
    UMCCRISE = "umccrise", "umccrise"
    SASH = "sash", "sash"


ALIASES: dict[str, Workflow] = {
    "dragen-tso500-ctdna": Workflow.CTTSOV2,
    "dragen-wgts-dna": Workflow.TUMOR_NORMAL,
    "dragen-wgts-rna": Workflow.WTS,
}

_BY_NAME: dict[str, Workflow] = {w.value: w for w in Workflow} | ALIASES


def canonical_workflow(name: str) -> Workflow | None:
    """The canonical workflow for a name or alias (case-insensitive), or None if unknown."""
    return _BY_NAME.get(name.strip().lower())


def accepted_workflow_names() -> list[str]:
    """Every spelling accepted, for error messages and documentation."""
    return sorted(_BY_NAME)
