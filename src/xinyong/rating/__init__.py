"""公共信用综合评价 and 分级分类监管: the scorecard model (data), batch scoring with
explanations, grade appeals, and the random inspection draw (双随机) the grades drive."""
