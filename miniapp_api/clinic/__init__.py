"""民情诊所: classification, duplicate groups, ledgers, hot topics and the Open311 API over 明心桥 reports."""
