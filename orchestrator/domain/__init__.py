"""The domain: values and pure rules about pipelines and steps. It imports nothing else of reelay
but ``orchestrator.errors``."""
