"""`modelcfg init`: scaffold a new config repository (modelcfg.scaffold.init)."""
