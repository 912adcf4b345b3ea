"""Job matching (个性速配): enterprises, postings, seekers, reciprocal explained matches."""
