"""A llama-server that runs on this CPU, for hosts and tests: find, prove or build one."""
