"""Reciprocal job matching over plain views: hard filters, a score each way, harmonic mean, crowding damping.

Pure functions over two frozen dataclasses (``SeekerView``, ``PostingView``): no database, no I/O. The service
maps its rows onto them; ``bench/jobs_eval.py`` runs them on generated sets. ``related`` is the skill
taxonomy's "related ids of this id" (partial credit); pass ``no_related`` when there is none.

- Hard filters first (``hard_filter``): education below the posting's minimum, an employment type or a shift
  the seeker does not want, a work place beyond the seeker's radius (straight line from home).
- Seeker → job (``seeker_score``): the job's skills the seeker covers, salary against expectation, distance,
  occupation wanted. Job → seeker (``job_score``): required skills held, preferred skills, experience,
  education. Each in [0, 1], its parts kept for the explanation.
- Combined: the harmonic mean of the two sides (RECON, Pizzato et al. 2010): a match both sides like beats
  one only one side likes. Then crowding (``crowding_factor``) damps postings whose applicants pass their
  openings several times (LinkedIn's idea), so a few popular postings do not take everyone's top slots.
"""

from miniapp_api.jobs.matching.ranking import hard_filter, match, top_jobs, top_seekers
from miniapp_api.jobs.matching.scores import (
    CROWD_ALPHA,
    CROWD_FREE_RATIO,
    RELATED_CREDIT,
    combine,
    crowding_factor,
    distance_fit,
    occupation_fit,
    salary_fit,
)
from miniapp_api.jobs.matching.views import Id, MatchResult, PostingView, Related, SeekerView, no_related

__all__ = [
    "CROWD_ALPHA",
    "CROWD_FREE_RATIO",
    "RELATED_CREDIT",
    "Id",
    "MatchResult",
    "PostingView",
    "Related",
    "SeekerView",
    "combine",
    "crowding_factor",
    "distance_fit",
    "hard_filter",
    "match",
    "no_related",
    "occupation_fit",
    "salary_fit",
    "top_jobs",
    "top_seekers",
]
