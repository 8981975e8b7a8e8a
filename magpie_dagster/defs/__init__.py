"""The Dagster layer: thin glue from assets, resources, partitions and schedules to the other layers."""
