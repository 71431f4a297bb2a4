"""Chapter 4's questions — The Bahdanau decoder: learning to align and translate.

``quiz("ch4")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("In Bahdanau's decoder, which state is compared with annotation \\(h_j\\) to choose the "
        "context of step \\(t\\)?",
        ("The previous decoder state \\(s_{t-1}\\), from before step \\(t\\).", True,
         "Right: \\(e_{t,j} = a(s_{t-1}, h_j)\\). The context \\(c_t\\) then goes into the GRU update "
         "that produces \\(s_t\\)."),
        ("The new state \\(s_t\\), after this step's GRU update.", False,
         "That is Luong's order (chapter 5). Here \\(s_t\\) is computed from \\(c_t\\), so it cannot be "
         "what chooses \\(c_t\\)."),
        ("The annotation \\(h_{j-1}\\) of the source position just before it.", False,
         "Annotations are what is attended to, the keys and values; the query comes from the "
         "decoder.")),
    ask("Predict from section 3: the encoder reads \"22 nov 2026\" and \"22 nov 2027\", which differ "
        "only in their last character. Which halves of the annotations "
        "\\(h_j = [\\overrightarrow{h}_j; \\overleftarrow{h}_j]\\) change?",
        ("The forward half at the last position only; the backward half at every position.", True,
         "Right: the forward GRU reads the changed character last, the backward GRU reads it first "
         "and carries it to all eleven positions. That is why each \\(h_j\\) sees the words on both "
         "sides of \\(j\\)."),
        ("Both halves at the last position only; the first ten annotations stay as they were.", False,
         "True of the forward half alone. The backward half reads the date from its end, so the "
         "changed character reaches every one of its states."),
        ("Both halves at every position, since every state depends on the whole date.", False,
         "The forward state at \\(j\\) has read only \\(x_1 \\dots x_j\\): the first ten forward halves "
         "never see the last character, so they do not change.")),
    ask("Why can \\(U_a h_j\\) be computed once per sentence rather than at every decoder step?",
        ("It involves only the source, never the decoder state \\(s_{t-1}\\).", True,
         "Right: only \\(W_a s_{t-1}\\) changes from step to step, so the projected keys are reused. "
         "For the dates of section 4, the projections need 9.2 times fewer multiply-adds."),
        ("Because \\(U_a\\) is frozen during training, unlike \\(W_a\\) and \\(v_a\\).", False,
         "\\(U_a\\) is trained like every other weight; it is simply the same at every step of one "
         "sentence."),
        ("Because the softmax of each step needs every position's key at once.", False,
         "It does, but that says nothing about reusing the keys at the next step. They can be reused "
         "because \\(U_a h_j\\) does not involve \\(s_{t-1}\\).")),
    ask("Predict from section 6: before any training, the model takes one step on \"22/11/26\" "
        "(8 characters), padded to the 25 of a longer date in its batch. What weights does it put "
        "on the 25 source positions?",
        ("Close to \\(1/8\\) on each of its 8 characters, and exactly 0 on each of the 17 pads.", True,
         "Right: untrained scores differ little, so the softmax over the real characters is nearly "
         "uniform (the cell asserts less than 0.03 from \\(1/8\\)), and the mask gives the pads "
         "nothing."),
        ("Close to \\(1/25\\) on every position: untrained scores cannot tell pads apart.", False,
         "The scores cannot, but the mask can: the pads' scores are set to \\(-\\infty\\) before the "
         "softmax, so the 8 characters share all the weight."),
        ("Almost all of it on one character, picked at random by the initial weights.", False,
         "Small random weights give scores that hardly differ, and a softmax of nearly equal scores "
         "is nearly uniform. Training is what sharpens the weights.")),
    ask("What does a beam search of width \\(K = 1\\) return?",
        ("The same tokens and weights as greedy decoding.", True,
         "Right: with one hypothesis, keeping the best extension means taking the most likely token "
         "at each step. Section 10 checks it on the 1,000 test dates."),
        ("The model's most probable output sequence, found exactly.", False,
         "Finding it exactly would mean scoring every sequence. A beam of 1 commits to one token at "
         "each step and can miss a sequence that starts with a less likely token."),
        ("A better output than greedy's: it scores whole sequences.", False,
         "With \\(K = 1\\) there is only one sequence to score. A beam gains over greedy decoding "
         "only by keeping several partial outputs.")),
)
