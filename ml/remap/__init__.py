"""SUN397 scene classes -> popular scene hashtags, built from WordNet and curated tables (`ml remap`).

Only this package needs nltk, and it imports it lazily: the bot and the worker read the generated
`ml/data/sun397_to_hashtag.csv` (or the remap embedded in the model file) and never touch WordNet.
"""
