"""Round planning: split the work, form work units and blocks, size resources, render the DAG."""
