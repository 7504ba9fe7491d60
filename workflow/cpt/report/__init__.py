"""Report stage: collect eval results and training metrics into tables and plots."""
