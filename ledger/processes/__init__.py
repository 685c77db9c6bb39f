"""The processes: what recorded events call for, and the steps that carry it out."""
