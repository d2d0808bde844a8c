"""The module paths of real architectures, and peft's LoRA matching over them (torch-free).

``table`` reads the committed table (``modelcfg/config/data/architectures.json``) that
``build`` generates with torch and transformers; ``match`` decides, as peft does, what a
``lora:`` section would adapt.
"""
