"""The gate's verdict on GitHub: check run, sticky comment, labels, job summary
(``modelcfg github report``). PyGithub is imported only inside the functions that call it."""
