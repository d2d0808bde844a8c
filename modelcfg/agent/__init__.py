"""Commands for agents: ``modelcfg propose`` (an edit as a pull request) and ``modelcfg pr``
(the gate's verdict on a pull request, as data)."""
