"""Chapter 5's questions — Luong attention: multiplicative scores, global and local attention.

``quiz("ch5")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("Which decoder state is the query in Luong et al.'s attention?",
        ("The current state \\(h_t\\), after this step's recurrent update.", True,
         "Right: \\(h_t \\to a_t \\to c_t \\to \\tilde h_t\\). Bahdanau's decoder queries with the "
         "state from before the step instead."),
        ("The previous state \\(h_{t-1}\\), as in Bahdanau's decoder.", False,
         "That is chapter 4's order, with \\(s_{t-1}\\). Luong's path is simpler: update first, then "
         "attend from the new state."),
        ("The attentional state \\(\\tilde h_{t-1}\\) of the previous step.", False,
         "\\(\\tilde h_{t-1}\\) goes into this step's input (input feeding); the query is the state "
         "that the recurrent step then produces.")),
    ask("What does local-p predict at each step \\(t\\)?",
        ("The centre \\(p_t\\) of its window, a real number from 0 to \\(S\\).", True,
         "Right: \\(p_t = S \\cdot \\mathrm{sigmoid}(v_p^\\top \\tanh(W_p h_t))\\), not rounded. "
         "Attention is confined to \\([p_t - w, p_t + w]\\) and weighted by a Gaussian with "
         "\\(\\sigma = w/2\\)."),
        ("The half-width \\(w\\) of its window, larger where the step is unsure.", False,
         "\\(w\\) is fixed by hand (the chapter uses 4 on dates and 2 on reversal); only the centre "
         "is predicted."),
        ("The source position to copy, as a whole number from 0 to \\(S - 1\\).", False,
         "\\(p_t\\) is real-valued and only centres a window: inside it, the content scores still "
         "choose. A rounded position would not be differentiable.")),
    ask("What is input feeding?",
        ("Giving step \\(t\\) the attentional state \\(\\tilde h_{t-1}\\) next to the embedding "
         "of \\(y_{t-1}\\).", True,
         "Right: \\(h_t = \\mathrm{GRU}(h_{t-1}, [E\\,y_{t-1}; \\tilde h_{t-1}])\\), so each step "
         "receives what the previous step attended to directly, not only through the tokens written so far. "
         "The price: step \\(t\\)'s recurrent update waits for step \\(t-1\\)'s attention, so the GRU can "
         "no longer run over all steps in one call."),
        ("Giving every decoder step the whole source sentence again, as part of its input.", False,
         "The source reaches Luong's decoder only through attention (and the bridge to its first "
         "state); input feeding passes on the decoder's own \\(\\tilde h_{t-1}\\)."),
        ("Giving step \\(t\\) the true previous token \\(y_{t-1}\\) in training, rather than the "
         "model's own guess.", False,
         "That is teacher forcing, which chooses which token goes in. Input feeding adds "
         "\\(\\tilde h_{t-1}\\) next to that token, in training and in decoding alike.")),
    ask("Predict from section 4: the dot, general, concat and location scores train on dates with "
        "one budget of 400 steps, each stopping once it gets 98% of the validation dates right. "
        "Which one never gets there?",
        ("Location: it has to tell where each field sits from \\(h_t\\) alone.", True,
         "Right: it never reads the annotations. It was far behind when the content scores stopped "
         "(67% at step 180 in the stored run) and short of 98% after 400 steps in every seed."),
        ("Dot: with no attention parameters, it cannot learn where to look.", False,
         "Dot learns through the encoder and the decoder, which make its queries and keys; in the "
         "stored run it reached 98% first, after 160 steps."),
        ("Concat: its \\(\\tanh\\) for every step and position slows it down.", False,
         "The \\(\\tanh\\) costs time per step, but the budget counts steps, and concat reached 98% "
         "well within them, like dot and general.")),
    ask("Predict from section 7: local-p learns to reverse strings of 6 to 12 symbols. How does its "
        "window centre \\(p_t\\) move as the output step \\(t\\) grows?",
        ("Backwards from near the end, starting further right in longer strings.", True,
         "Right: output \\(t\\) reads position \\(S - 1 - t\\), and local-p tracks it, 0.68 positions "
         "off on average in the stored run. It reads \\(S\\) through the factor \\(S\\) in \\(p_t\\)."),
        ("Forwards, about one position per step, much like local-m's \\(p_t = t\\).", False,
         "That is local-m's prior, and it fails here: almost five positions off on average, and at "
         "11% of the strings exactly right in the stored run (at most 14% over eleven seeds)."),
        ("Hardly at all: it stays near \\(S/2\\), where \\(v_p = 0\\) put it at the start.", False,
         "It starts there, but \\(v_p\\) learns from the loss like every other parameter; a centre "
         "stuck in the middle would miss most symbols of the string.")),
)
