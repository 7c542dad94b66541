"""Credit subjects (信用主体): one subject, many identifiers (一码关联多码)."""
