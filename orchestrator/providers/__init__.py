"""The provider adapters: one module per aggregator API, behind the contract in ``base``."""
