"""modelcfg: validate, train, evaluate and gate changes to YAML model and LoRA configs."""

__version__ = "0.1.0"
