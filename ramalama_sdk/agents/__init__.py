"""Tools from plain functions, the ``act()`` loop and ``parse()``."""
