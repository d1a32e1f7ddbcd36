"""Files → posts: list and read post files safely, parse front matter, index tags, choose what is published."""
