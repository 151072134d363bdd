"""The jurisdiction tree (city > district > station > beat area > grid) and standard addresses."""
