"""The public credit website (信用网站), the department console and subject self-service."""
