"""A small English-like corpus from a fixed grammar, for the language-model programs."""
import os
import random

SUBJECTS = ["the cat", "the dog", "a bird", "my friend", "the old man", "a child", "the teacher"]
VERBS = ["sees", "likes", "follows", "finds", "watches", "helps", "calls"]
OBJECTS = ["the ball", "a house", "the river", "the garden", "a small tree", "the red car",
           "the market"]
ENDINGS = ["today", "in the morning", "at night", "again", "every day", "near the hill"]


def sentence(rng):
    """One line: subject, verb, object and sometimes a time or place."""
    words = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]
    if rng.random() < 0.6:
        words.append(rng.choice(ENDINGS))
    return " ".join(words) + " ."


def write_corpus(directory, lines=(400, 40, 40), seed=0):
    """train.txt, valid.txt and test.txt of ``lines`` sentences each; returns ``directory``."""
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    for name, n in zip(("train", "valid", "test"), lines):
        with open(os.path.join(directory, f"{name}.txt"), "w", encoding="utf8") as f:
            f.write("\n".join(sentence(rng) for _ in range(n)) + "\n")
    return directory


def text(n, seed=0):
    """``n`` sentences as one string."""
    rng = random.Random(seed)
    return "\n".join(sentence(rng) for _ in range(n)) + "\n"
