"""Merchant standing: complaints with an SLA, the removal rules (淘汰机制) evaluated daily, findings and the
warn / suspend / remove / clear workflow, appeals."""
