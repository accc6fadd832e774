"""Offline sample sources that reproduce dynamical.org's GEFS 35-day and IFS ENS 15-day layout."""
