"""Published, time-windowed, eligibility-gated items: what priority rounds and surveys share."""
