"""Private helpers shared by both APIs, not public; ``docs/architecture.md`` maps them."""
