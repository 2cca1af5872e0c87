"""Events: dated participation and education offers, registration, iCalendar feed."""
