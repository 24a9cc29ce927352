"""One module per step of the frozen daily order: registry -> encounters -> patients -> vitals ->
labs -> notes. Each has one entry function taking the config, the day and its own RNG stream."""
