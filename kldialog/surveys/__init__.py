"""Privacy-preserving surveys: builder, answering, anonymous storage, suppressed results."""
