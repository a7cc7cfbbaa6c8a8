"""Pure domain layer: enumerations, models, transition rules. No I/O."""
