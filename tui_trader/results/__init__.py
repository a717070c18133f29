"""Results: round trips from order statuses, the report maths, exports and the data a results screen draws."""
