"""Source departments (数据来源单位)."""
