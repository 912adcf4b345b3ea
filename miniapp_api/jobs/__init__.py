"""Job matching (个性速配, issue 17): enterprises and their employer accounts, postings, seekers,
matches, applications and pushes."""
