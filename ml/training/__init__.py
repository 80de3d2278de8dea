"""What `ml train`, `ml evaluate`, `ml calibrate` and `ml compare` are made of: photo folders and split files,
the remap's training targets, schedules, the training loop, the frozen-prefix feature cache, metrics,
calibration and significance tests. Serving never imports this package."""
