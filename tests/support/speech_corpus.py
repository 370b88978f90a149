"""Everyday questions and commands, kept as text and spoken by espeak-ng when a test or benchmark runs.

The local server's recognition is judged on these (`benchmarks/bench_recognition.py` for the word
error rate over every sentence in every voice; the tests take a few). The voices differ in accent
and pitch: American, British, and a female variant of the British voice.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import numpy as np
import soundfile
import soxr

SENTENCES = (
    "What time does the library open tomorrow?",
    "Can you tell me a joke about cats?",
    "What is the weather like in Paris today?",
    "Set a timer for ten minutes.",
    "Turn on the kitchen lights.",
    "What is the capital of Germany?",
    "Remind me to call my mother tomorrow.",
    "How do I get to the train station?",
    "Play some music in the living room.",
    "Is it going to rain this afternoon?",
    "Send a message to John saying I am running late.",
    "How far is the moon from the earth?",
    "Please book a table for two at seven.",
    "What is the best way to cook rice?",
    "Add milk and eggs to my shopping list.",
    "Wake me up at six in the morning.",
    "How many days are there until Christmas?",
    "Turn the volume down a little.",
    "What does the word curious mean?",
    "Call the doctor's office.",
    "Where is the nearest pharmacy?",
    "How long does it take to boil an egg?",
    "Translate good morning into Spanish.",
    "What is the score of the football game?",
    "Open the garage door.",
    "Who wrote the book Pride and Prejudice?",
    "Stop the music.",
    "What should I make for dinner tonight?",
    "How tall is the Eiffel Tower?",
    "Read me the latest news.",
    "Close the curtains in the bedroom.",
    "What is the date today?",
    "Can you recommend a good movie?",
    "How do you spell necessary?",
    "Tell me something interesting about space.",
    "Lock the front door.",
    "What is the temperature outside right now?",
    "Find a recipe for chocolate cake.",
    "How much water should I drink every day?",
    "Turn off all the lights downstairs.",
    "When does the next bus leave?",
    "What is the population of Canada?",
    "Pause the podcast.",
    "Why is the sky blue?",
    "Schedule a meeting with Sarah on Friday.",
    "How do I reset my password?",
    "What is the speed of light?",
    "Play the next song.",
    "Is the pharmacy open on Sunday?",
    "Thank you very much.",
    "Good morning, how are you?",
    "What is two plus two?",
    "Where did I park my car?",
    "Make the room a bit warmer.",
    "What movies are playing tonight?",
    "How do plants make their food?",
    "Start the washing machine.",
    "Who is the president of France?",
    "Give me directions to the airport.",
    "What is the meaning of life?",
)
VOICES = ("en-us", "en", "en+f3")
"""espeak-ng voices: American English, British English, and British English with a female voice."""
RATE = 24_000
_ESPEAK = "espeak-ng"
_WORD = re.compile(r"[a-z0-9']+")
_NUMBERS = {
    number: word
    for number, word in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
    )
}

_CONTRACTIONS = {
    "i'm": "i am",
    "it's": "it is",
    "what's": "what is",
    "that's": "that is",
    "don't": "do not",
    "isn't": "is not",
    "can't": "cannot",
    "i'll": "i will",
    "you're": "you are",
    "let's": "let us",
}


def espeak_missing() -> str | None:
    """Why the corpus cannot be spoken here, or None."""
    return None if shutil.which(_ESPEAK) else "espeak-ng is not installed (apt-get install espeak-ng)"


def spoken(text: str, voice: str = "en-us") -> np.ndarray:
    """`text` spoken by espeak-ng in `voice`, as 24 kHz mono int16."""
    wav = subprocess.run([_ESPEAK, "-v", voice, "--stdout", "--", text], capture_output=True, check=True, timeout=30)
    frames, rate = soundfile.read(io.BytesIO(wav.stdout), dtype="float32", always_2d=True)
    return np.round(soxr.resample(frames[:, 0], rate, RATE) * 32767).clip(-32768, 32767).astype(np.int16)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, small numbers and contractions spelt out ("10" and "ten",
    "I'm" and "I am" are the same answer)."""
    spelt = (
        _NUMBERS.get(int(word), word) if word.isdigit() else _CONTRACTIONS.get(word, word)
        for word in _WORD.findall(text.lower())
    )
    return " ".join(spelt).split()


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance (substitutions, insertions, deletions)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, heard in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != heard))
    return row[-1]
