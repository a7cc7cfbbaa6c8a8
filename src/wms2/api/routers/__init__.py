"""One router per resource of design §10."""
