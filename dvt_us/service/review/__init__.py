"""Reader review: core-lab readers confirm or override the model's findings before a report is final.

Accounts and roles (:mod:`.accounts`, :mod:`.permissions`), login sessions with CSRF (:mod:`.sessions`),
the worklist (:mod:`.worklist`), reads prefilled by the model (:mod:`.reads`, :mod:`.read_content`),
discordance rules and study states (:mod:`.discordance`), adjudication (:mod:`.adjudication`), electronic
signatures (:mod:`.signing`), the final visit folder (:mod:`.final_outputs`), the hash-chained audit trail
(:mod:`.audit`) and agreement statistics (:mod:`.agreement`, :mod:`.kappa`). Every function takes a
:class:`~dvt_us.service.review.store.ReviewStore` first and the clock ``now`` (timezone-aware) last.
docs/review.md describes the workflow.
"""
