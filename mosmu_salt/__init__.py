"""mosmu installed with pip: the loader dirs Salt finds through entry points."""
