"""A served model's processes: ramalama's child, its engine and containers, its watchdog."""
