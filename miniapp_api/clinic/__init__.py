"""民情诊所: classification, duplicate groups, ledgers and hot topics over 明心桥 reports."""
