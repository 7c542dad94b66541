"""Identity codes and personal-data protection (统一社会信用代码、组织机构代码、公民身份号码)."""
